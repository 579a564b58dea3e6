"""Micro-wishes (微心愿): a resident asks, staff dispatch, a volunteer does it, the resident rates."""
