"""Personal data (GDPR): what a participant may take away, and how they leave without taking
the science with them."""
