namespace Schedulers.Core

open System.Collections.Generic

/// A scheduler as the registry lists it, seen without its config type: its names, its config schema's keys and
/// compatibles, the flavours it reproduces, and its config text round trip. Tools, conformance and `compatibles`
/// iterate over these instead of naming schedulers one by one.
type RegisteredScheduler =
    { /// The tool's short name (`schedulers sample --scheduler NAME`).
      Name: string
      /// diffusers' class name (`_class_name`).
      ClassName: string
      /// One line for listings.
      Description: string
      /// The classes whose configs this class is meant to load (diffusers' `compatibles`).
      Compatibles: IReadOnlyList<string>
      /// The class's config keys, in diffusers' constructor order.
      Keys: IReadOnlyList<string>
      /// Every key a config of the class is read from (the class's keys, then carried keys).
      FileKeys: IReadOnlyList<string>
      /// The reference flavours the class reproduces.
      Flavours: Flavour list
      /// The text `save_config` writes for the class's defaults.
      DefaultText: string
      /// `from_config` then `save_config` on a parsed config (hidden keys and unchanged number text kept).
      Resave: ConfigDict -> string }

/// Every scheduler this library builds, one entry each: adding a scheduler is its file plus one line here.
module Registry =

    let private entry (name: string) (description: string) (flavours: Flavour list) (schema: ConfigSchema<'C>) =
        { Name = name
          ClassName = schema.ClassName
          Description = description
          Compatibles = schema.Compatibles
          Keys = schema.Keys
          FileKeys = schema.AllKeys
          Flavours = flavours
          DefaultText = schema.Text schema.Defaults
          Resave = schema.Resave }

    /// The schedulers, in the order tools list them.
    let all: RegisteredScheduler list =
        [ entry "dpm" "DPM-Solver / DPM-Solver++ multistep, orders 1–3, ODE and SDE (Lu et al. 2022)" [ Flavour.Torch; Flavour.Flax ] DpmSolverConfig.schema
          entry "karras" "KarrasVe: the stochastic sampler of Karras et al. 2022, Algorithm 2" [ Flavour.Torch; Flavour.Flax ] KarrasVeConfig.schema
          entry "sde-ve" "ScoreSdeVe: the VE SDE predictor–corrector sampler (Song et al. 2021)" [ Flavour.Torch; Flavour.Flax ] ScoreSdeVeConfig.schema
          entry "heun" "EDM Heun: the deterministic sampler of Karras et al. 2022, Algorithm 1" [ Flavour.Torch ] EdmHeunConfig.schema
          entry "ddim" "DDIM: denoising diffusion implicit models (Song et al. 2021), eta for stochasticity" [ Flavour.Torch; Flavour.Flax ] DdimConfig.schema
          entry "ddpm" "DDPM: denoising diffusion probabilistic models (Ho et al. 2020), ancestral sampling" [ Flavour.Torch; Flavour.Flax ] DdpmConfig.schema
          entry "pndm" "PNDM: pseudo numerical methods, Runge–Kutta warm-up then linear multistep (Liu et al. 2022)" [ Flavour.Torch; Flavour.Flax ] PndmConfig.schema
          entry "lms" "LMS: linear multistep on the VE sigmas (Karras et al. 2022, k-diffusion), order 4 by default" [ Flavour.Torch; Flavour.Flax ] LmsConfig.schema
          entry "euler" "Euler: the Euler sampler of Karras et al. 2022 on the VE sigmas of a VP schedule, optional churn" [ Flavour.Torch; Flavour.Flax ] EulerConfig.schema ]

    /// The entry of a diffusers class name, if this library builds the class.
    let tryFindClass (className: string) : RegisteredScheduler option =
        all |> List.tryFind (fun s -> s.ClassName = className)

    /// The entry of a tool name, if there is one.
    let tryFindName (name: string) : RegisteredScheduler option =
        all |> List.tryFind (fun s -> s.Name = name)

    /// True when this library builds the diffusers class.
    let isBuilt (className: string) : bool = (tryFindClass className).IsSome

    /// diffusers' `compatibles` made real: the built schedulers whose configs the class loads (itself included), in
    /// registry order.
    let compatibles (className: string) : RegisteredScheduler list =
        match tryFindClass className with
        | Some entry -> all |> List.filter (fun other -> Seq.contains other.ClassName entry.Compatibles)
        | None -> []

    /// The diffusers Flax class of an entry ("Flax" + its class name) when the entry reproduces the Flax flavour.
    let flaxClassName (entry: RegisteredScheduler) : string option =
        if entry.Flavours |> List.exists (fun f -> f.Name = Flavour.Flax.Name) then Some("Flax" + entry.ClassName) else None

    /// `FlaxSchedulerMixin.compatibles` made real: for a Flax class of `FlaxKarrasDiffusionSchedulers`, the built
    /// entries whose Flax class is one too (itself included), in registry order; none for any other name.
    let flaxCompatibles (flaxClass: string) : RegisteredScheduler list =
        let family = DiffusersClasses.flaxKarrasDiffusionSchedulers
        if not (Array.contains flaxClass family) then []
        else
            all
            |> List.filter (fun entry ->
                match flaxClassName entry with
                | Some name -> Array.contains name family
                | None -> false)

