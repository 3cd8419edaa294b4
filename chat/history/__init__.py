"""A conversation's memory: message ids allocated before an answer streams, the group-commit
recorder that stores finished turns, working memory in Redis, the context sent upstream (summary
plus what fits), and the background work (rolling summaries, titles, escalation e-mails,
retention) queued after a turn."""
