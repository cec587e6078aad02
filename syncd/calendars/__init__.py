"""Calendar sources: where bookings are read from and where links are written back."""
