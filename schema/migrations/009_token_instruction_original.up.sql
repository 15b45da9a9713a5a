-- 009_token_instruction_original: the originalInstructionCid of a transfer
-- instruction's view. A registry evolving a transfer in several steps names
-- the original instruction in every successor; tokenstd recognises a later
-- step only if it knows the original of the instruction the step consumes,
-- also when that instruction was created in an earlier batch.
--
-- Runs with search_path set to the target schema, so names are unqualified.

ALTER TABLE token_instruction ADD COLUMN original_instruction_cid text NOT NULL DEFAULT '';

-- Instructions stored before this version: a replacement's original is the
-- first instruction of its chain of replaces (a registry names the original
-- in every successor, as the standard's update does).
WITH RECURSIVE chain (cid, root) AS (
  SELECT contract_id, contract_id FROM token_instruction WHERE replaces = ''
  UNION ALL
  SELECT i.contract_id, c.root FROM token_instruction i JOIN chain c ON i.replaces = c.cid
)
UPDATE token_instruction t SET original_instruction_cid = c.root
FROM chain c WHERE t.contract_id = c.cid AND t.replaces <> '';
