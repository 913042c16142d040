var apiToken string = "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"
