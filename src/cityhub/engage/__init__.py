"""The public's voice (issue 15): data requests (数据需求), and the engagement the public has with open data."""
