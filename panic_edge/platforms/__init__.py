"""Platform clients: the edges that call models. One module per platform, one interface."""
