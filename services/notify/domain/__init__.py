"""Pure rules of notify: audiences, resume pointers, messages, quiet hours, signatures, backoff. No I/O."""
