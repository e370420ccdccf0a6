"""Change review (``tierctl diff``): what a change to the tier file does, worded for people.

Compares two versions of the config (the working file and a git ref or another file):
the tier fields that changed, the pages and sales sheets whose content changes, the
accounts that move tier, the survey invitations that become due or stop, the agent
hours per tier, and the owners who must approve the changed fields.

May import: publish, responses, surveys, storage, the public API, config, host, util, errors/records.
"""
