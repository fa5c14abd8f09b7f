"""Studies that run the pipeline many times: the coupling dose–response (``coupling``)."""
