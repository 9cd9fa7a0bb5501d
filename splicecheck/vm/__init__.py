"""Running the suite on any kernel: a virtual machine boots it over a view of the host's root
(:mod:`.qemu`), after the image and its modules were checked on the host (:mod:`.kernel`)."""
