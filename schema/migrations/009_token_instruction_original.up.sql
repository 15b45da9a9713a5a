-- 009_token_instruction_original: the originalInstructionCid of a transfer
-- instruction's view. A registry evolving a transfer in several steps names
-- the original instruction in every successor; tokenstd recognises a later
-- step only if it knows the original of the instruction the step consumes,
-- also when that instruction was created in an earlier batch.
--
-- Runs with search_path set to the target schema, so names are unqualified.

ALTER TABLE token_instruction ADD COLUMN original_instruction_cid text NOT NULL DEFAULT '';
