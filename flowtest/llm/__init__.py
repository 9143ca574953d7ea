"""The LLM beneath `judge` and `persona:`: one OpenAI-compatible chat client, a disk cache, two prompts.

Import-light on purpose: nothing here is imported until a scenario uses `judge` or `persona:`.
The modules: ``endpoint`` (settings -> Endpoint, and the collection check), ``chat`` (the HTTP
client), ``cache`` (answers on disk), ``judge`` and ``persona`` (prompts and their parsing),
``service`` (all of it, opened once per run).
"""
