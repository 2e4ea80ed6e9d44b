using System.CommandLine;
using Schedulers.Cli;

var root = new RootCommand("schedulers: diffusion-model noise schedulers (ScoreSdeVe, KarrasVe, DPM-Solver) with diffusers' exact numbers.");
root.Subcommands.Add(ConformanceCommand.Create());
root.Subcommands.Add(SampleCommand.Create());
root.Subcommands.Add(MergeCommand.Create());
root.Subcommands.Add(CompareCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(TrainCommand.Create());
return root.Parse(args).Invoke();
