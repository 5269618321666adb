-- The raw-PostgreSQL equivalent of an earn: append a ledger row with a unique key and move
-- the member's balance, in one transaction (what ledger_post does at its core).
\set mid random(:minid, :maxid)
\set n random(79, 1450)
BEGIN;
INSERT INTO members_ledgerentry (member_id, carats, kind, reason, key, balance_after, occurred_at, created_at)
  VALUES (:mid, :n, 'purchase', 'pgbench earn', 'pgb:' || gen_random_uuid(), 0, now(), now());
UPDATE members_member SET balance = balance + :n, last_activity_at = now() WHERE id = :mid;
END;
