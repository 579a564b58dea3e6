"""Good-conduct rules and claims with public notice, and micro-wishes."""
