"""The public's voice (issue 15): data requests (数据需求), discussions on datasets, reuses (成果展示)."""
