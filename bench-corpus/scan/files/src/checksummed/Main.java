System.setProperty("GH_TOKEN", "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");
