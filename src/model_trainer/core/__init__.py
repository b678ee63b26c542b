"""The typed core: contracts, errors, events, training, tokenizers, backends and jobs."""
