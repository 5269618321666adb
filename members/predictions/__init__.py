"""Predictions per member: P(active), expected purchases, expected order value and
12-month CLV. `model` is the mathematics (numpy and scipy, no Django); `features` reads
each member's purchase history set-based; `services` fits, scores and writes back;
`selectors` reads for the console and the program."""
