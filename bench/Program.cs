using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Schedulers.Bench.KernelBenchmarks).Assembly).Run(args);
