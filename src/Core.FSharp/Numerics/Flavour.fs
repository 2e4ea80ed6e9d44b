namespace Schedulers.Core

/// Which reference implementation a scheduler reproduces. The two differ in real, documented ways (how linspace
/// rounds, which norm the corrector takes, integer vs float tables, ...), and each is matched exactly.
type Flavour =
    /// diffusers' torch classes: `torch.linspace`, batch-mean norms, `torch.Generator` noise.
    | Torch = 0
    /// diffusers' Flax classes: `jnp.linspace`, whole-tensor norms, JAX keys.
    | Flax = 1
