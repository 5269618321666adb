-- The raw-PostgreSQL equivalent of a QR lookup: the member by a unique key with its tier,
-- and its qualifying carats of the last 12 months (the progress to the next tier).
\set mid random(:minid, :maxid)
SELECT m.*, t.code, t.name FROM members_member m
  JOIN tiers_membertier s ON s.member_id = m.id JOIN tiers_tier t ON t.id = s.tier_id
  WHERE m.id = :mid;
SELECT sum(carats) FROM members_ledgerentry
  WHERE member_id = :mid AND kind IN ('purchase', 'return', 'retroactive')
    AND occurred_at >= now() - interval '1 year';
