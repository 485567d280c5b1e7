// Text helpers shared by the YAML config parsers (model configs here, edgert-app's app configs):
// the did-you-mean suggestion for an unknown key or value, and "a, b or c" lists for messages.
#pragma once

#include <string>
#include <vector>

namespace edgert::vision {

// The candidate closest to `word` (optimal string alignment distance, case-insensitive, '_' read as
// '-') when it is close enough to be a typo: at most 1 edit for words of up to 3 characters, 2 up
// to 8, 3 beyond. "" otherwise.
std::string ClosestWord(const std::string& word, const std::vector<std::string>& candidates);

// "a", "a or b", "a, b or c".
std::string JoinAlternatives(const std::vector<std::string>& words);

}  // namespace edgert::vision
