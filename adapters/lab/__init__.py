"""The Linux network-namespace lab the kernel adapters run in.

``topology`` builds the three namespaces and their links and fences exchanges (``fence``: the echo
fences and the conntrack flush; ``signals``: teardown on signals and at exit); ``netns`` enters
namespaces; ``rawsock`` injects and captures on the links; ``preflight`` says what the machine lacks;
``rulesets`` configures each kernel splice. docs/LAB.md describes all of it.
"""
