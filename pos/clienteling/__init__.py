"""Clienteling at the counter: finding a client, the client book (notes, preferences,
wishlist, important dates, pieces owned), who sees which client, appointments.

Models here are registered with the pos app (pos/models.py imports them at the bottom);
services.py writes, selectors.py reads, views.py is the thin edge."""
