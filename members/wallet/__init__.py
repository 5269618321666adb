"""The member's Diamond Club card in the phone's wallet (Apple Wallet, Google Wallet).

- `models`: the pass of a member (serial, per-pass token, version, pending pushes) and the
  Apple devices registered for it.
- `services`: the only writers: issue a pass, mark a card changed (called explicitly by
  the ledger, the QR rotation and the tier services), register/unregister a device, and
  the worker's refresh (APNs pushes, Google patch) that runs after commit.
- `card`: what the card shows, gathered at the edges (it reads the tiers and pos
  selectors, so only views and tasks import it).
- `apple`: pass.json and the signed .pkpass; `apns`: the HTTP/2 push client;
  `google`: the save link (signed JWT) and the Wallet API client.
- `views`/`urls`: the download pages and Apple's pass web service."""
