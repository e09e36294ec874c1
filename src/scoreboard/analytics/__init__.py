"""Admin analytics over score history and sign-ups (the seed's queries 6, 11, 12 and 13), as JSON or CSV."""
