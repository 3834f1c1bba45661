-- A dead letter that came back from a replay names the one it was replayed from: `mortard dlq
-- replay` adds the header `mortard-replay-of: <id>` to the record it sends, and the consumer, when
-- it dead-letters that record again, stores the id here (only an id that exists: a forged or
-- mangled header stores NULL). No foreign key: a dead letter's write is part of an inbox batch,
-- which must never fail over this link.
ALTER TABLE dead_letters ADD COLUMN replay_of bigint;

CREATE INDEX dead_letters_replay_of ON dead_letters (replay_of) WHERE replay_of IS NOT NULL;
