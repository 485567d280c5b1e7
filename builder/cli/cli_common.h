// Pieces the edgert CLI's commands share: exit codes, error printing, file helpers and each
// command's entry point and help text.
#pragma once

#include <string>
#include <vector>

#include "edgert/memory_plan.h"
#include "edgert/status.h"

namespace edgert {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFail = 1;   // a model, plan or data error, or a failed comparison
inline constexpr int kExitUsage = 2;  // a usage error

// Prints "edgert: <message>" on stderr.
void PrintError(const std::string& message);
// Prints the status and returns kExitFail.
int Fail(const Status& s);
// Prints the message and a pointer to 'edgert help COMMAND' ("" for the main page); returns kExitUsage.
int Usage(const std::string& message, const std::string& command);

bool FileExists(const std::string& path);
// mkdir -p.
Status MakeDirs(const std::string& dir);
// True for a file that starts with the plan magic "EDGERTPL" and is not named *.onnx, and for any
// file named *.plan (so a damaged plan is reported as one, not as a broken ONNX model).
bool LooksLikePlan(const std::string& path);
// "memory: arena 7225344 bytes (lower bound 7225344, no reuse 45881344: 15.7%)".
std::string MemoryFiguresLine(const MemoryFigures& figures);

extern const char kBuildHelp[];
extern const char kInspectHelp[];
extern const char kBenchHelp[];
int RunBuildCommand(const std::vector<std::string>& args);
int RunInspectCommand(const std::vector<std::string>& args);
int RunBenchCommand(const std::vector<std::string>& args);

}  // namespace edgert
