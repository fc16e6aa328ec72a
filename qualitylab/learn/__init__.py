"""Learning predictors of human ratings from feature tables."""
