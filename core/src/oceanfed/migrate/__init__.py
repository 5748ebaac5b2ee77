"""Migration from the upstream federation daemon: its command line becomes a fed.toml.

``oceanfed init --from-upstream -- <upstream arguments>`` parses the upstream command line
(:mod:`.upstream`), reads the federation from the chain itself (:mod:`.chain`), finds this
member's block-signing key on its node wallet or HSM (:mod:`.signerkey`), collects the other
members' transport keys from their member cards (:mod:`.cards`), writes the config and its
secret files (:mod:`.writer`) and prints what it decided (:mod:`.report`).
See docs/migration.md for the cut-over runbook.
"""

from oceanfed.migrate.convert import Conversion, convert

__all__ = ["Conversion", "convert"]
