"""Member mails as a jeweller sends them: the branded layout (loyalty.kernel.maillayout),
content blocks per trigger (blocks), default texts that name the reason and the gift
(defaults), and the composition of a mail exactly as it is sent (compose)."""
