-- Reverses 011_review_resolution_check. Runs with search_path set to the target schema.
ALTER TABLE review_transaction DROP CONSTRAINT review_transaction_resolution_check;
