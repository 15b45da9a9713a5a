-- Reverses 003_withdrawal. Runs with search_path set to the target schema.
DROP TABLE withdrawal_gate_log;
DROP TABLE withdrawal_gate;
DROP TABLE withdrawal_reservation;
DROP TABLE withdrawal;
