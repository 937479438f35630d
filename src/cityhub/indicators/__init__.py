"""The plan's own scoreboard (规划实施跟踪监测, issue 15): the indicators of the plan's table 1, their observed values
(computed live from the platform, or reported by the responsible department and reviewed by the data office),
progress against a straight-line trajectory, the annual / mid-term / final assessment reports and the indicator
values as an open dataset."""
