"""What the Microsoft 365 backends share: sign-in (`auth`) and the Graph client (`graph`)."""
