"""The checkout simulator: arrivals, baskets and receipts for the chain's stores."""
