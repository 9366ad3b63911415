"""sessionkit: express-session semantics for Django."""
