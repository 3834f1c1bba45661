"""What mortard knows of the Heartland Retail API apart from any HTTP: the `Dialect` (everything the
doc leaves open, one setting each, see docs/heartland-contract.md) and the errors a Heartland call
can end in. The order core (`sync`), the client and gateway (`heartland`) and the sandbox all speak
it, so it sits below all of them and imports nothing of mortard."""
