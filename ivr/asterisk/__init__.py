"""The Asterisk front end: FastAGI server, AGI wire protocol, pyst2 adapter, AMI client."""
