"""The internal console: operations (queue, trace, replay, rules, templates, audit) and KPI dashboards,
behind sign-in with permissions granted one by one."""
