"""The public's voice (issue 15): discussions on datasets, reuses (成果展示), data requests."""
