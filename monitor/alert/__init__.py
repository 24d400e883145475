"""Alert delivery: payload formats (pure), signing (pure), retry policy (pure), async webhook sender."""
