"""Jifen (积分): a volunteer points and incentive marketplace for community governance."""
