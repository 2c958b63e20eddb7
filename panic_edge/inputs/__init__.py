"""The physical edges a visitor or operator touches: the panic button, a status LED, the keyboard."""
