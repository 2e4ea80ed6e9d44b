using Schedulers.Cli;
using Schedulers.Core;

// The tool honours SCHEDULERS_NUM_THREADS and SCHEDULERS_NORMAL_TABLE; the library itself reads no environment.
KernelSettings.Apply(Environment.GetEnvironmentVariable);
return ParseErrors.Invoke(ToolCommand.Create(), args);
