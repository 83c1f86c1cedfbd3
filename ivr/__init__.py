"""Voice-menu engine of the 8 800 555-35-35 hotline and its telephony front ends."""
