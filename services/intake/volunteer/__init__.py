"""The volunteers' phone page under /volunteer/: sign-in by SMS code, offers, work, availability, record."""
