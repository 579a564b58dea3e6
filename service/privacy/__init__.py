"""Residents' own data (PIPL): "我的数据", its download, and the requests to correct or delete it."""
