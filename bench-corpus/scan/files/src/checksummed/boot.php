$token .= "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";
